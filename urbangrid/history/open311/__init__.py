"""A city's past cases from an Open311-style CSV export, so it starts with its history.

A mapping file (YAML) names the export's columns, its time zone and date format, which final
statuses count as closed, and how agencies and request types become departments and categories
(``mapping``). Each usable row is read in UTC (``rows``) and becomes a CLOSED case with the steps
of the closed loop at the times the export knows (reported, filed and dispatched when created;
handled, checked and closed when closed), its due date as the deadline (``cases``); rows still
open in the source are left to the live system. Importing the same file twice adds nothing: each
row's tracking token is its source id.
"""
