//! The rabbit-agent's AMQP side (filled in with the rabbit transport).
