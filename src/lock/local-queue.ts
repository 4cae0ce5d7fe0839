export { isLocallyBusy, takeLocalTurn } from '../core/local-turn.js';
