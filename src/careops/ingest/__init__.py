"""Ingestion: files and FHIR R4 into the canonical tables, bad rows into quarantine."""
