//! kubewire-core: the pure planner (model, Kilo annotations, topology, plan, policy, rendering).
