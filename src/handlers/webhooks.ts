// TEMP stub so the CDK stack can bundle this entry before the real webhooks handler lands; dropped at merge.
export const handler = async (): Promise<never> => {
  throw new Error('webhooks handler not built yet');
};
