/** How a Byzantine Node worker corrupts its gradients (bench -- byzantine). */
export const ATTACKS = ['sign', 'scale'] as const;
export type Attack = (typeof ATTACKS)[number];

/** The factor a Byzantine worker multiplies its fp32 gradient by. */
export const ATTACK_FACTOR: Record<Attack, number> = { sign: -1, scale: 100 };
