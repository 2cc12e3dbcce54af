from django.urls import path

from . import person_views, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in", views.sign_in, name="sign-in"),
    path("sign-out", views.sign_out, name="sign-out"),
    path("choose-position", views.choose_position, name="choose-position"),
    path("my-access", views.my_access, name="my-access"),
    path("people", person_views.people, name="people"),
    path("people/<str:uid>", person_views.person, name="person"),
]
