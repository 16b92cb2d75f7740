// Threadline's chat on another site: a floating button that opens the chat (/chat of the engine
// this script came from) in a frame. The site's page includes:
//   <script src="https://support.example/chat/embed.js" data-identity="..." data-signature="..." data-label="Chat"></script>
// data-identity and data-signature: a customer identity the site's server signed (optional);
// they travel in the frame's URL fragment, which is never sent to a server or kept in its logs.
// The engine lets only the origins in chat.allowed_origins frame the chat.
"use strict";
(function () {
  const script = document.currentScript;
  if (!script || !script.src) return;
  const origin = new URL(script.src).origin;
  const data = script.dataset;
  const fragment = data.identity ? `#${new URLSearchParams({ identity: data.identity, signature: data.signature || "" })}` : "";
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = data.label || "\u{1F4AC}";
  button.setAttribute("aria-label", data.label || data.title || "Chat");
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:2147483646;min-width:56px;height:56px;border-radius:28px;border:0;" +
    "background:#1f5fbf;color:#fff;font:600 16px system-ui,sans-serif;padding:0 18px;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer";
  let frame = null;
  button.addEventListener("click", () => {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = `${origin}/chat${fragment}`;
      frame.title = data.title || data.label || "Chat";
      frame.style.cssText = "position:fixed;right:20px;bottom:88px;z-index:2147483647;width:min(380px,calc(100vw - 40px));height:min(600px,calc(100vh - 120px));" +
        "border:1px solid #d9dee5;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);background:#fff";
      document.body.append(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    button.setAttribute("aria-expanded", String(!frame.hidden));
  });
  document.body.append(button);
})();
