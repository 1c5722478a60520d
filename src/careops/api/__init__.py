"""The HTTP service (`careops serve`): thin routes over the domain services, one error shape."""
