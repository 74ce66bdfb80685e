"""What a call can fail with: the server's problem (application/problem+json), or no server
that answered."""


class StemeDBError(Exception):
    """The server refused the request. `status`, `type`, `title`, `detail`, `field` and `rule`
    come from its problem document (docs/api.md, "Problems")."""

    def __init__(self, status, problem):
        self.status = status
        self.problem = problem if isinstance(problem, dict) else {}
        self.type = self.problem.get("type")
        self.title = self.problem.get("title")
        self.detail = self.problem.get("detail") or str(problem)
        self.field = self.problem.get("field")
        self.rule = self.problem.get("rule")
        super().__init__(f"server answered {status}: {self.detail}")


class Unavailable(Exception):
    """No server in the list answered (each tried, `retries` times over); `causes` holds what
    each attempt met."""

    def __init__(self, urls, causes):
        self.urls = list(urls)
        self.causes = list(causes)
        last = causes[-1] if causes else "no attempt"
        super().__init__(
            f"no StemeDB server answered at {', '.join(self.urls)} (last: {last}); start one "
            f"(`stemedb serve`) or pass its URL"
        )
