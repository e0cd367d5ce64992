/**
 * sluice/kafka: a partition-aware adapter between a KafkaJS-style consumer group and per-partition
 * processors (windows or a whole Pipeline), with exactly-once state through snapshots committed with the
 * offsets. No Kafka client is imported here: pass kafkajs or @confluentinc/kafka-javascript objects in.
 * @module sluice/kafka
 */
export { BATCH_LATENCY_WINDOW, KafkaConsumerAdapter, SluiceKafkaError } from './consumer_adapter'
export type {
  BatchConsumer, BatchInfo, EachBatchPayload, KafkaAdapterMetrics, KafkaConsumerAdapterOptions, KafkaErrorKind, KafkaMessage, KafkaPartitionMetrics,
  Delivery, ProducedMessage, ProducerTransaction, ResultContext, ResultProducer, TransactionOffsets, TransactionalProducer,
} from './consumer_adapter'
export { ColumnBuilder, binaryDecoder, encodeBinaryRecords, encodeByteKeyRecords, jsonDecoder, type DecodedKeyKind } from './decoders'
export type { BinaryDecoderOptions, JsonDecoderOptions, MessageValue, RecordDecoder } from './decoders'
export { WindowProcessor } from './processor'
export type { EventColumns, PartitionProcessor, WindowResult } from './processor'
export { PipelineProcessor } from './pipeline_processor'
export type { PipelineProcessorOptions, PipelineRow } from './pipeline_processor'
export { FileStateStore, KafkaStateStore } from './state_store'
export type { StateStore, StateTopicClients, StoredSnapshot } from './state_store'
export { IncrementalStateStore } from './incremental_store'
export type { IncrementalStateStoreOptions, IncrementalStoreStats } from './incremental_store'
export type { ChunkSizes } from '../runtime/content_chunks'
export { loadPromClient, registerPrometheus } from './prometheus'
export type { MetricsSource, PromClient, PromMetric } from './prometheus'
export { PARTITION_SNAPSHOT_VERSION, decodePartitionSnapshot, encodePartitionSnapshot } from './partition_snapshot'
export type { PartitionSnapshotHeader } from './partition_snapshot'
