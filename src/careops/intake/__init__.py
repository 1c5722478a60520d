"""Event intake: the hospital's apps send behaviour events over HTTP (`POST /api/v1/events`).

`check` shapes and validates a batch with the file door's rules, `service.receive_events` stores
it durably and idempotently (PostgreSQL: straight into `events`; an embedded warehouse: the
intake journal, flushed into the warehouse by the service's writer).
"""
