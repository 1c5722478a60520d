"""API routes, one module per capability; each a thin shell over `careops.<domain>.service`."""
