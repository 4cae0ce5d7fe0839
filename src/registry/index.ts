export { ServiceRegistry, type RegisterOptions } from './service-registry.js';
export { Registration, type RegistrationEvents } from './registration.js';
export { ServiceDiscovery, type DiscoveryEvents, type PickStrategy } from './service-discovery.js';
export { InvalidInstanceError, type ServiceInstance, type ServiceMetadata, type JsonValue } from './codec.js';
