// TEMP stub so the CDK stack can bundle this entry before the real sender handler lands; dropped at merge.
export const handler = async (): Promise<never> => {
  throw new Error('sender handler not built yet');
};
