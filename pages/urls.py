from django.urls import path

from pages import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.signin, name="login"),
    path("accounts/logout/", views.signout, name="logout"),
]
