import { pointsChangeCommand } from './points-change.js';

export const revoke = pointsChangeCommand('revoke');
