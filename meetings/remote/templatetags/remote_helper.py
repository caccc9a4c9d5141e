"""``{% helper_offer as offer %}``: the desktop helper download for the visitor's system
(meetings/remote/downloads.py), for the room's remote-control panel."""

from __future__ import annotations

from django import template

from meetings.remote import downloads

register = template.Library()


@register.simple_tag(takes_context=True)
def helper_offer(context) -> downloads.Offer:
    return downloads.offer_for(downloads.visitor_system(context["request"]) or downloads.SYSTEMS[0])
