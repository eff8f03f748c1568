"""Safety error types: user-facing ``KinemaError`` kinds raised by the safety layer."""

from kinema.errors import KinemaError


class PolicyError(KinemaError):
    """A prompt was rejected by the content policy; ``categories`` names the policy categories."""

    def __init__(self, message: str, categories: tuple[str, ...] = ()):
        super().__init__(message)
        self.categories = categories


class FrameSafetyError(KinemaError):
    """Generated frames were flagged by the frame classifier; the output is withheld (never written)."""

    def __init__(self, message: str, frames: tuple[int, ...] = ()):
        super().__init__(message)
        self.frames = frames


class ProvenanceError(KinemaError):
    """Content credentials could not be made or read (bad certificate/key, unsupported file)."""
