"""Pages. Each concern adds its own block and keeps its views in frontend/views/<concern>.py."""

from django.contrib.auth import views as auth_views
from django.urls import path

from frontend.views import home

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="frontend/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", home.home, name="home"),
]
