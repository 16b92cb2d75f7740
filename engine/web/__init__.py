"""The HTTP server: the agent desktop, the supervisor floor, reports, QA review, health and metrics."""
