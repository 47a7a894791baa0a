//! RabbitMQ through lapin: topology, publishing with confirms, consuming with manual
//! ack, dead-lettering.
//!
//! Must not: decide what a message means; payloads are bytes with a message id here.
