//! Unit tests of the pure controller: fake time, no API server, no daemon.
