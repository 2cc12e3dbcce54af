"""Lifecycle pages, mounted at /lifecycle/ (careaccess/urls.py)."""

from django.urls import path

from . import closure_views, views

app_name = "lifecycle"

urlpatterns = [
    path("reinstate", views.reinstate_ask, name="reinstate"),
    path("reinstate/confirm/<str:token>", views.reinstate_confirm, name="reinstate-confirm"),
    path("reinstatements", views.reinstatements, name="reinstatements"),
    path("reinstatements/<int:pk>", views.reinstatement_decide, name="reinstatement"),
    path("reviews", views.reviews, name="reviews"),
    path("reviews/<int:pk>", views.review, name="review"),
    path("closures", closure_views.closures, name="closures"),
    path("closures/<int:pk>", closure_views.closure, name="closure"),
]
