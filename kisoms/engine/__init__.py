"""Orchestration: submit/modify/cancel flows, retries, notices, recovery and reconciliation."""
