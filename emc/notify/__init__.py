"""Notifications (issue 16): a per-user inbox of what waits for them, kept in step with the data, and its delivery.

``rules`` is the pure core (the state of settlements, imports and quota warnings → the notifications each user
should have); ``sync`` the shell that loads that state in a bounded number of queries and upserts the new ones
and resolves the gone ones; ``inbox`` what the pages read; ``delivery`` the outbox (e-mail, WeCom and DingTalk
group robots) with retries; ``jobs`` what the scheduler runs.
"""
