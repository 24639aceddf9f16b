"""Appointments at the overseas sites and the domestic desks (issue 14): places, slots, calendar files."""
