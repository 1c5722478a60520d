"""One patient at a time: the portrait (tags, layers, masked contacts) and clinical records,
behind the object-level checks of `careops.privacy.access`."""
