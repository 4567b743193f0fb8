import { pointsChangeCommand } from './points-change.js';

export const grant = pointsChangeCommand('grant');
