from django.urls import path

from . import apis

urlpatterns = [
    path("tickets/", apis.TicketListCreateApi.as_view(), name="ticket-list"),
    path("tickets/<uuid:ticket_id>/", apis.TicketDetailApi.as_view(), name="ticket-detail"),
    path("tickets/<uuid:ticket_id>/transition/", apis.TicketTransitionApi.as_view(), name="ticket-transition"),
    path("tickets/<uuid:ticket_id>/assign/", apis.TicketAssignApi.as_view(), name="ticket-assign"),
    path("tickets/<uuid:ticket_id>/comments/", apis.CommentListCreateApi.as_view(), name="ticket-comments"),
    path("tickets/<uuid:ticket_id>/history/", apis.HistoryListApi.as_view(), name="ticket-history"),
]
