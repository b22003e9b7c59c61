from __future__ import annotations

from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    """A viewer account: a username and a password (Django's validators), nothing else."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)
