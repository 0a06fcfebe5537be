"""Why a use case refuses an action: each kind maps to one HTTP status at the entrypoints."""


class DomainError(Exception):
    """Base of every refusal; ``problems`` lists every reason at once, not just the first."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class NotFound(DomainError):
    """An id that names nothing (HTTP 404)."""


class IllegalTransition(DomainError):
    """The assignment is not in a state where this step is allowed (HTTP 409)."""


class Refused(DomainError):
    """The step is allowed but the facts forbid it: wrong item, short stock, wrong code (HTTP 409)."""


class InvalidInput(DomainError):
    """Values that passed the schema but break a business rule, each naming its field (HTTP 400)."""

    def __init__(self, field: str, message: str, *more: tuple[str, str]):
        self.fields = [(field, message), *more]
        super().__init__([f"{f}: {m}" for f, m in self.fields])
