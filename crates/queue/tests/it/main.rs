//! Integration tests against the local RabbitMQ (`AMQP_URL`, default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`). Each test uses its own random prefix and
//! deletes its queues and exchanges when it ends, even on panic; the shared broker is
//! never restarted (connection loss is simulated with an in-test TCP proxy).

mod common;
mod consume;
mod proxy;
mod publish;
mod reconnect;
mod requeue;
mod topology;
