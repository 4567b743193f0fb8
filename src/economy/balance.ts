import { UserError } from '../core/errors.js';

/**
 * A balance as its head link carries it: `held` is set aside for generations still running,
 * so a member can spend only `available`, and a hold's guard checks nothing else.
 */
export interface Balance {
  available: number;
  held: number;
}

/** The refusal a member sees when a generation costs more than they have available. */
export function notEnoughPoints(price: number, balance: Balance): UserError {
  return new UserError(
    'not_enough_points',
    `Not enough points: this costs ${price} and you have ${balance.available} available.`,
    { details: { price, ...balance } },
  );
}
