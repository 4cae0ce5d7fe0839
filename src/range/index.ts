export { RangeQuery, type RangeOptions } from './range.js';
export { RangeFollower, type FollowHandlers } from './follow.js';
