export { WatchedConfig } from './watched-config.js';
export {
  ConfigValidationError,
  type ConfigChangeInfo,
  type ConfigDefaults,
  type ConfigValue,
  type ConfigWriteOptions,
  type DeepPartial,
  type WatchedConfigEvents,
  type WatchedConfigOptions,
} from './types.js';
export { type ConfigConflict, type ConfigObject, type JsonValue } from './shape.js';
