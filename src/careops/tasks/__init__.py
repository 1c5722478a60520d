"""Care tasks (任务): work for a person — a health manager's call, a doctor's alert review —
raised by journeys, abnormal-reading rules and staff, each due at a time, closed with an outcome."""
