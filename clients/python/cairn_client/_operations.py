"""Which operations of the server's OpenAPI document (by operationId) each client method performs."""

from typing import Callable, Tuple, TypeVar

Method = TypeVar("Method", bound=Callable[..., object])

OPERATIONS_ATTRIBUTE = "__cairn_operations__"


def operation(*operation_ids: str) -> Callable[[Method], Method]:
    """
    Marks a method as the client's call for these operations. A test reads the marks and the
    method's return annotation and compares them with the document a server serves: an operation
    no method is marked for (and that is not excluded, with a reason), or an answer whose record
    the return type does not match field for field, fails it.
    """

    def mark(method: Method) -> Method:
        setattr(method, OPERATIONS_ATTRIBUTE, operation_ids)
        return method

    return mark


def operations_of(method: object) -> Tuple[str, ...]:
    return tuple(getattr(method, OPERATIONS_ATTRIBUTE, ()))


# Operations of the server's document this client leaves out, each with why. A test fails for an
# operation neither implemented nor listed here, and for one listed here that the document lacks.
NOT_IMPLEMENTED = {
    "getMetrics": "Prometheus text for a metrics scraper to collect, not a record a program acts on.",
    "redeemSignInCode": "The dashboard page's own step: it trades the one-time code in its URL for a browser session; a program holds a token already.",
    "getSignInOptions": "What `cairn login` and the dashboard read before they hold a credential (the identity provider and its clients); a program is given its token.",
    "endSession": "The dashboard's Sign out: it revokes only a dashboard session token, which this client never holds.",
    "listTemplates": "Run templates are new (issue 38); not yet in this client: read GET /v1/templates with a plain request until it has them.",
    "submitTemplateRun": "Run templates are new (issue 38); not yet in this client: submit the filled spec with submit(), or POST /v1/templates/{name}/runs.",
    "receiveGithubDelivery": "GitHub's own call: a delivery signed with the webhook secret, which a program using this client never sends.",
    "receiveWebhookDelivery": "The sending service's own call: a delivery signed per the Standard Webhooks specification with the webhook's secret, which a program using this client never holds.",
    "receiveLinearDelivery": "Linear's own call: a webhook delivery signed with the webhook's signing secret, which a program using this client never sends.",
    "receiveSlackRequest": "Slack's own call: a slash command or Events API request signed with the app's signing secret, which a program using this client never sends.",
}
