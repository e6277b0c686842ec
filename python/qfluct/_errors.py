"""The exceptions of qfluct (raised by the native part too)."""


class InputError(ValueError):
    """Bad input: the message is the command line's, "KEY: reason"; ``key`` names the key."""

    def __init__(self, key, reason):
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason

    def __reduce__(self):
        return (type(self), (self.key, self.reason))


class NumericalError(RuntimeError):
    """A numerical failure that no single parameter explains (the CLI's exit code 3)."""


class Note(UserWarning):
    """A note about the input (a key that does not apply, a loose tolerance): the CLI's
    "qfluct: note: ..." lines, issued with warnings.warn."""
