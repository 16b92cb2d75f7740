"""The local Asterisk: a Debian sid chroot, its configuration and its process (`threadline asterisk`)."""
