"""The AMQP side of the service (aio-pika lives here and nowhere else): topology, the consumer,
settlement and the outcome publisher."""
