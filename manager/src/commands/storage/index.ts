// The storage area: image stores and the templates/ISOs on them (docs/decisions/0420).
export { addImageStore, listImageStores, deleteImageStore } from './stores.ts';
export { getUploadParamsForTemplate, extractTemplate, deleteTemplate, registerIso, listIsos, deleteIso } from './images.ts';
