/**
 * The training settings every official config shares (Dassl's OPTIM defaults as the CoOp/MaPLe/PromptSRC/MPL
 * configs set them): SGD with momentum 0.9 and weight decay 5e-4, one constant warm-up epoch at 1e-5. The
 * trainer, the step API, the schedule, run configurations (result.json) and Dassl exports all read them here.
 */
export const TRAIN_DEFAULTS = {
  momentum: 0.9,
  weightDecay: 5e-4,
  warmupEpochs: 1,
  warmupLr: 1e-5,
} as const;
