// The two KafkaJS-style clients the adapter and the Kafka state store take differ in a few calls:
// @confluentinc/kafka-javascript (librdkafka inside) refuses `fromBeginning` in subscribe() and `autoCommit`
// in run() (both belong in its consumer's `kafkaJS` config), has no group events, and its sendOffsets takes
// the consumer instead of a group id.

/**
 * Whether a consumer is @confluentinc/kafka-javascript's rather than KafkaJS's. There is no public marker:
 * it is told apart by the method its own producer's sendOffsets calls on the consumer.
 */
export function isLibrdkafkaClient(consumer: unknown): boolean {
  return typeof consumer === 'object' && consumer !== null && typeof (consumer as { _getInternalClient?: unknown })._getInternalClient === 'function'
}
