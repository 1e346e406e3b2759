"""The dispute settings form: business hours, time zone, working days and the SLA hours of each state."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms

WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"),
            (6, "Sunday")]
SLA_FIELDS = ("sla_new_hours", "sla_triaged_hours", "sla_in_review_hours", "sla_waiting_customer_hours")
MAX_SLA_HOURS = 24 * 365


def _hours(label):
    return forms.IntegerField(label=label, min_value=1, max_value=MAX_SLA_HOURS,
                              help_text="Business hours", widget=forms.NumberInput(attrs={"class": "input"}))


class DisputeSettingsForm(forms.Form):
    time_zone = forms.CharField(max_length=64, help_text="An IANA time zone, e.g. Europe/Berlin or America/Chicago",
                                widget=forms.TextInput(attrs={"class": "input"}))
    day_start = forms.TimeField(label="Business day starts", widget=forms.TimeInput(attrs={"class": "input",
                                                                                           "type": "time"}))
    day_end = forms.TimeField(label="Business day ends", widget=forms.TimeInput(attrs={"class": "input",
                                                                                       "type": "time"}))
    working_days = forms.TypedMultipleChoiceField(choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple,
                                                  error_messages={"required": "choose at least one working day"})
    sla_new_hours = _hours("New: first answer within")
    sla_triaged_hours = _hours("Triaged: review started within")
    sla_in_review_hours = _hours("In review: decided within")
    sla_waiting_customer_hours = _hours("Waiting for the customer: at most")

    def clean_time_zone(self):
        name = self.cleaned_data["time_zone"].strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(f"{name!r} is not a time zone (use a name like Europe/Berlin)")
        return name

    def clean(self):
        data = super().clean()
        start, end = data.get("day_start"), data.get("day_end")
        if start and end and end <= start:
            self.add_error("day_end", "the business day must end after it starts")
        return data
