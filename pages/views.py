"""Home and viewer accounts. Sign-in and sign-out are Django's own views with our templates;
sign-up creates a plain (non-staff) user and signs them in. Every form goes back to `next`
(the community page the viewer came from) when it is a safe, same-site URL."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters

from pages.forms import SignUpForm
from pages.ratelimit import throttled_login
from pages.selectors import public_communities


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"communities": public_communities()})


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe else "/"


@sensitive_post_parameters("password1", "password2")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return HttpResponseRedirect(_next(request))
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return HttpResponseRedirect(_next(request))
    return render(request, "accounts/signup.html", {"form": form, "next": _next(request)})


class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        refusal = throttled_login(request)
        if refusal is not None:
            return refusal
        return super().post(request, *args, **kwargs)


signin = SignInView.as_view()
signout = auth_views.LogoutView.as_view(next_page="/")
