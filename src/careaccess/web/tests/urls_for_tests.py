"""The site's pages plus two staff-only pages, to test the decorators."""

from django.http import HttpResponse
from django.urls import include, path

from careaccess.web.auth import actor_for_request, staff_required


@staff_required
def staff_page(request):
    actor = actor_for_request(request)
    return HttpResponse(f"staff page for {actor.person_uid} in assignment {actor.assignment_id}: {actor.position_label}")


@staff_required(capabilities=("ra_agent", "ra_manager"))
def ra_page(request):
    return HttpResponse(f"RA page for {request.actor.person_uid}")


urlpatterns = [
    path("test/staff", staff_page),
    path("test/ra", ra_page),
    path("", include("careaccess.web.urls")),
]
