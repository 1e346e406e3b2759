"""The rule form: the condition as CEL text, the actions as plain fields (turned into the actions dict)."""

from django import forms

from .engine import DECISIONS, PRIORITIES, RuleSpec


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class TriageRuleForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    condition = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        help_text='CEL, e.g. amount < 100.0 && category == "pricing" && customer.risk != "high"')
    decide = forms.ChoiceField(required=False, choices=[("", "-")] + [(d, d) for d in DECISIONS],
                               help_text="valid = auto-approve, invalid = auto-reject")
    queue = forms.CharField(required=False, max_length=100)
    owner = forms.EmailField(required=False, help_text="a user's email")
    priority = forms.ChoiceField(required=False, choices=[("", "-")] + [(p, p) for p in PRIORITIES])
    sla_hours = forms.IntegerField(required=False, min_value=1, label="SLA (hours)")
    request_documents = forms.CharField(required=False, help_text="comma-separated, asked of the customer")
    write_off_account = forms.CharField(required=False, max_length=50, label="Write off to GL account")
    notify = forms.CharField(required=False, help_text="comma-separated emails or roles, e.g. finance_lead")
    stop = forms.BooleanField(required=False, help_text="no further rule is evaluated when this one fires")
    enabled = forms.BooleanField(required=False, initial=True)

    @classmethod
    def initial_for(cls, rule) -> dict:
        actions = rule.actions
        return {
            "name": rule.name, "description": rule.description, "condition": rule.condition,
            "decide": actions.get("decide", ""), "queue": actions.get("queue", ""), "owner": actions.get("owner", ""),
            "priority": actions.get("priority", ""), "sla_hours": actions.get("sla_hours"),
            "request_documents": ", ".join(actions.get("request_documents", [])),
            "write_off_account": actions.get("write_off", {}).get("account", ""),
            "notify": ", ".join(actions.get("notify", [])), "stop": rule.stop, "enabled": rule.enabled,
        }

    def spec(self) -> RuleSpec:
        data = self.cleaned_data
        actions = {key: data[key] for key in ("decide", "queue", "owner", "priority", "sla_hours")
                   if data.get(key) not in (None, "")}
        for key in ("request_documents", "notify"):
            if _list(data.get(key) or ""):
                actions[key] = _list(data[key])
        if data.get("write_off_account"):
            actions["write_off"] = {"account": data["write_off_account"]}
        return RuleSpec(name=data["name"], condition=data["condition"], actions=actions, stop=data["stop"],
                        enabled=data["enabled"], description=data.get("description") or "")


class RuleFileForm(forms.Form):
    file = forms.FileField(help_text="a rule file exported here or kept in version control: .yaml, .yml or .json")
