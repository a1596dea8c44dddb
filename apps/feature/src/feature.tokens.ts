/** DI tokens of the feature service. */
export const FEATURE_CONFIG = Symbol('FEATURE_CONFIG');
