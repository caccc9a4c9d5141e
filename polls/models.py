"""Polls (F14): the Polling Repository and live polls. Built by the polls issue."""
