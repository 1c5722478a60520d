"""Next needs (SPEC §4 need prediction): written rules (`data/rules.yaml`) and association rules
mined from the data, giving each patient a `next_need` journeys can trigger on."""
