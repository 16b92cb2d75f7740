"""Failures of the local Asterisk chroot, each written as one line an operator can act on."""


class LocalPbxError(Exception):
    """Base class; str(error) is the whole operator-facing message."""


class NotRoot(LocalPbxError):
    def __init__(self, command: str) -> None:
        super().__init__(f"`threadline asterisk {command}` must run as root (it uses debootstrap and chroot); run it with sudo.")


class DebootstrapMissing(LocalPbxError):
    def __init__(self) -> None:
        super().__init__("debootstrap is not installed; run `apt-get install debootstrap` (it builds the Debian sid chroot for Asterisk).")


class ProvisioningFailed(LocalPbxError):
    def __init__(self, step: str, output_tail: str) -> None:
        super().__init__(f"building the Asterisk chroot failed at: {step}\n{output_tail}")


class PortInUse(LocalPbxError):
    def __init__(self, port: int, protocol: str, purpose: str, setting: str) -> None:
        super().__init__(
            f"127.0.0.1:{port}/{protocol} ({purpose}) is already in use by another program; "
            f"stop it, or set {setting} in threadline.toml to a free port."
        )


class AsteriskStartFailed(LocalPbxError):
    def __init__(self, reason: str, log_tail: str) -> None:
        super().__init__(f"Asterisk failed to start: {reason}. Last lines of its log:\n{log_tail}")
